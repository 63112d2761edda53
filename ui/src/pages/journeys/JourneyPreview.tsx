// A journey document drawn read-only (no palette, no panels, no counts): what a ready
// scenario would make with the parameters as they are now.
import "@xyflow/react/dist/style.css";
import "./journeys.css";
import { Background, ReactFlow, ReactFlowProvider } from "@xyflow/react";
import { fromDefinition } from "./document";
import { NODE_TYPES } from "./JourneyNode";
import { toFlow } from "./flow";
import { autoLayout, type Definition } from "./model";

export function JourneyPreview({ definition }: { definition: Definition }) {
  const graph = fromDefinition(definition);
  const { nodes, edges } = toFlow(graph, autoLayout(graph));
  return (
    <div className="journey-preview" data-testid="journey-preview">
      <ReactFlowProvider>
        <ReactFlow nodes={nodes} edges={edges} nodeTypes={NODE_TYPES} nodesDraggable={false} nodesConnectable={false}
          elementsSelectable={false} fitView fitViewOptions={{ maxZoom: 0.9 }} deleteKeyCode={null} proOptions={{ hideAttribution: true }}>
          <Background />
        </ReactFlow>
      </ReactFlowProvider>
    </div>
  );
}
